/**
 * The nf_tables ruleset generation of a network namespace (NFT_MSG_GETGEN, as `nft monitor` and
 * iptables-nft read it). The kernel bumps it with every commit to the ruleset: any table, any
 * family, whether written by nft, iptables-nft or kube-proxy. While it stands still, nothing in
 * nf_tables has changed, which makes it a one-message check that a ruleset is as last seen.
 */
import { AF_UNSPEC, NETLINK_NETFILTER, NFNETLINK_V0, NFNL_SUBSYS_NFTABLES, NFTA_GEN_ID, NFT_MSG_GETGEN, NFT_MSG_NEWGEN, NLMSG_HDRLEN, NLM_F_REQUEST } from './constants.ts';
import { NlSocket } from './socket.ts';

/** struct nfgenmsg: family, version, resource id. */
const NFGENMSG_LEN = 4;
const GETGEN = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
const NEWGEN = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN;

export interface NftGenerationReader {
  /** The current generation; throws a KernelError when nf_tables cannot be asked. */
  read(): Promise<number>;
  close(): void;
}

/** A NETLINK_NETFILTER socket in this process's netns, or in `netns` (a /run/netns name or a path). */
export function openNftGeneration(opts: { netns?: string } = {}): NftGenerationReader {
  const sock = new NlSocket({ netns: opts.netns, protocol: NETLINK_NETFILTER, rcvbuf: 64 * 1024 });
  return {
    read: () =>
      sock.exclusive(async () => {
        const w = sock.w;
        w.reset();
        w.msg(GETGEN, NLM_F_REQUEST, sock.reserveSeq(1));
        const at = w.reserve(NFGENMSG_LEN);
        w.setU8(at, AF_UNSPEC);
        w.setU8(at + 1, NFNETLINK_V0);
        w.end();
        let gen: number | undefined;
        await sock.request(
          () => 'nf_tables generation',
          (buf, start, len, type) => {
            if (type === NEWGEN) gen = generationOf(buf, start, len);
          },
        );
        if (gen === undefined) throw new Error('nf_tables answered NFT_MSG_GETGEN without NFTA_GEN_ID');
        return gen;
      }),
    close: () => sock.close(),
  };
}

/** NFTA_GEN_ID of a NFT_MSG_NEWGEN message (big-endian, as every nf_tables integer). */
export function generationOf(buf: Buffer, start: number, len: number): number | undefined {
  const end = start + len;
  for (let pos = start + NLMSG_HDRLEN + NFGENMSG_LEN; pos + 4 <= end; ) {
    const alen = buf.readUInt16LE(pos);
    if (alen < 4 || pos + alen > end) return undefined;
    if ((buf.readUInt16LE(pos + 2) & 0x3fff) === NFTA_GEN_ID && alen >= 8) return buf.readUInt32BE(pos + 4);
    pos += (alen + 3) & ~3;
  }
  return undefined;
}
