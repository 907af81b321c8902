/**
 * The one spawn-and-collect helper, with real child processes (so not in the unit project):
 * what the daemon's rule tools (runCommand) and the lab harness (run) get back from it.
 */
import { describe, expect, it } from 'vitest';
import { spawnCollect } from '../../src/util/spawn.ts';
import { runCommand } from '../../src/traffic/exec.ts';
import { CommandError, run } from '../../lab/harness/exec.ts';

describe('spawnCollect', () => {
  it('collects stdout, stderr and the exit status, and feeds stdin', async () => {
    const r = await spawnCollect('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n' });
    expect(r).toEqual({ code: 3, signal: null, stdout: 'in\n', stderr: 'err\n' });
  });

  it('replaces the environment when given one', async () => {
    const r = await spawnCollect('/bin/sh', ['-c', 'echo "$FOO:$HOME"'], { env: { FOO: 'bar' } });
    expect(r.stdout).toBe('bar:\n');
  });

  it('ends a stuck program after timeoutMs: SIGTERM, status 128', async () => {
    const r = await spawnCollect('sleep', ['30'], { timeoutMs: 100 });
    expect(r).toMatchObject({ code: 128, signal: 'SIGTERM' });
  });

  it('rejects with Node\'s ENOENT when the program is not installed', async () => {
    await expect(spawnCollect('/nonexistent/flannel-tool', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('its two users', () => {
  it('runCommand resolves a failure with the status and keeps ENOENT for isNotInstalled', async () => {
    expect(await runCommand('sh', ['-c', 'echo no >&2; exit 2'])).toEqual({ code: 2, stdout: '', stderr: 'no\n' });
    await expect(runCommand('/nonexistent/iptables', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the harness\'s run throws a CommandError naming the command, unless allowFailure', async () => {
    await expect(run(['sh', '-c', 'echo broken >&2; exit 4'])).rejects.toThrow(new CommandError(['sh', '-c', 'echo broken >&2; exit 4'], { code: 4, stdout: '', stderr: 'broken\n' }).message);
    expect(await run(['sh', '-c', 'exit 4'], { allowFailure: true })).toEqual({ code: 4, stdout: '', stderr: '' });
    await expect(run(['/nonexistent/ip', 'link'])).rejects.toThrow('`/nonexistent/ip` not found (needed to run `/nonexistent/ip link`)');
  });
});
