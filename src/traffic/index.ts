export { createTrafficManager, type TrafficManager, type TrafficManagerOptions, type RuleManagerStats, type PreviousLease, type TrafficMode } from './manager.ts';
export { runCommand, RuleCommandError, type CommandRunner, type CommandResult } from './exec.ts';
export { readIptablesDumps, type IptablesDumps } from './iptables-mode.ts';
