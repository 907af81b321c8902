export { createTrafficManager, type TrafficManager, type TrafficManagerOptions, type TrafficStats, type PreviousLease, type TrafficMode } from './manager.ts';
export { runCommand, RuleCommandError, type CommandRunner, type CommandResult } from './exec.ts';
