import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiContact, apiSilenceMs, DEFAULT_API_SILENCE_MS } from '../../../../src/subnet/kube/api-contact.ts';

function setup(silenceMs = 60_000) {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  let t = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = { advance: (ms: number) => (t += ms) };
  const c = new ApiContact({ server: 'https://198.18.0.254:6443', log, silenceMs, now: () => t });
  return { c, lines, clock, msgs: () => lines.map((l) => l.msg) };
}

const WARN = 40;
const INFO = 30;

describe('ApiContact', () => {
  it('loses contact after silence beyond the limit, once, and logs the outage when bytes come back', () => {
    const { c, lines, clock, msgs } = setup();
    c.received();
    expect(c.stats).toMatchObject({ inContact: true, losses: 0 });
    clock.advance(59_000);
    c.checkSilence();
    expect(lines).toEqual([]);
    expect(c.note()).toBeUndefined();
    clock.advance(2_000);
    c.checkSilence();
    c.checkSilence();
    expect(lines).toEqual([
      expect.objectContaining({
        level: WARN,
        msg: 'Lost contact with the API server https://198.18.0.254:6443: nothing received for 61.0 s (no event, no bookmark; limit 60.0 s); routes stay as programmed, changes to other nodes wait until it is back',
        lastContact: '2026-01-01T12:00:00.000Z',
      }),
    ]);
    expect(c.stats).toMatchObject({ inContact: false, losses: 1, lastOutageMs: 0 });
    clock.advance(20_000);
    expect(c.note()).toBe(
      'lost contact with the API server https://198.18.0.254:6443 (last contact 81.0 s ago; nothing received for 61.0 s (no event, no bookmark; limit 60.0 s)); routes stay as programmed, changes to other nodes wait until it is back',
    );
    // Retries that fail meanwhile add nothing: the loss is reported.
    c.requestFailed('connect ETIMEDOUT 198.18.0.254:6443');
    c.requestFailed('connect ETIMEDOUT 198.18.0.254:6443');
    c.received();
    c.received();
    expect(msgs().slice(1)).toEqual(['Contact with the API server https://198.18.0.254:6443 restored after 81.0 s without contact']);
    expect(lines[1]).toMatchObject({ level: INFO, outageSeconds: 81 });
    expect(c.stats).toMatchObject({ inContact: true, losses: 1, lastOutageMs: 81_000, lastContactMs: Date.UTC(2026, 0, 1, 12, 1, 21) });
    expect(c.note()).toBeUndefined();
  });

  it('loses contact after two requests in a row get no answer, not after one', () => {
    const { c, clock, msgs } = setup();
    c.received();
    clock.advance(300);
    c.requestFailed('connect ECONNREFUSED 198.18.0.254:6443');
    c.received(); // another stream is still talking: a blip
    c.requestFailed('connect ECONNREFUSED 198.18.0.254:6443');
    expect(msgs()).toEqual([]);
    clock.advance(400);
    c.requestFailed('connect ECONNREFUSED 198.18.0.254:6443');
    expect(msgs()).toEqual([
      'Lost contact with the API server https://198.18.0.254:6443: requests fail without an answer: connect ECONNREFUSED 198.18.0.254:6443; routes stay as programmed, changes to other nodes wait until it is back',
    ]);
    expect(c.isLost).toBe(true);
  });

  it('reports an API server unreachable from the start, and its first answer as the end of that outage', () => {
    const { c, clock, msgs } = setup();
    clock.advance(1_000);
    c.requestFailed('connect ECONNREFUSED 198.18.0.254:6443');
    c.requestFailed('connect ECONNREFUSED 198.18.0.254:6443');
    expect(c.note()).toBe(
      'lost contact with the API server https://198.18.0.254:6443 (never reached since start; requests fail without an answer: connect ECONNREFUSED 198.18.0.254:6443); routes stay as programmed, changes to other nodes wait until it is back',
    );
    clock.advance(4_000);
    c.received();
    expect(msgs()[1]).toBe('Contact with the API server https://198.18.0.254:6443 restored after 5.0 s without contact');
  });

  it('says nothing about its first contact, or about silence before the limit at start', () => {
    const { c, clock, msgs } = setup();
    clock.advance(59_000);
    c.checkSilence();
    c.received();
    expect(msgs()).toEqual([]);
    expect(c.stats.inContact).toBe(true);
  });

  it('logs each 410 and the relist after it with what changed among the peers, and counts them', () => {
    const { c, lines } = setup();
    c.expired('1234');
    c.relisted({ nodes: 5, added: 1, removed: 2, changed: 1 });
    c.relisted({ nodes: 5, added: 0, removed: 0, changed: 0 });
    expect(lines).toEqual([
      expect.objectContaining({ level: INFO, msg: 'node watch expired (410 Gone); relisting', resourceVersion: '1234' }),
      expect.objectContaining({ level: INFO, msg: 'relisted 5 nodes after 410 Gone: 1 added, 2 removed, 1 changed among the peers', added: 1, removed: 2, changed: 1 }),
      expect.objectContaining({ msg: 'relisted 5 nodes after a failed watch: 0 added, 0 removed, 0 changed among the peers' }),
    ]);
    expect(c.stats).toMatchObject({ expired: 1, relistChanges: { added: 1, removed: 2, changed: 1 } });
  });

  it('takes its limit from FLANNEL_API_SILENCE_SECONDS, and refuses a bad one', () => {
    expect(apiSilenceMs({})).toBe(DEFAULT_API_SILENCE_MS);
    expect(apiSilenceMs({ FLANNEL_API_SILENCE_SECONDS: '2.5' })).toBe(2_500);
    expect(() => apiSilenceMs({ FLANNEL_API_SILENCE_SECONDS: '0' })).toThrow('FLANNEL_API_SILENCE_SECONDS="0": expected a number of seconds above 0');
    expect(() => apiSilenceMs({ FLANNEL_API_SILENCE_SECONDS: 'soon' })).toThrow('FLANNEL_API_SILENCE_SECONDS="soon"');
  });
});
