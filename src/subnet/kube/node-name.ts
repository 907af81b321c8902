import type { KubeApi } from './api.ts';
import { errorText } from '../../util/errors.ts';

/**
 * The node this daemon runs for, as pkg/subnet/kube/kube.go finds it: NODE_NAME, else the spec.nodeName of the pod named by
 * POD_NAMESPACE/POD_NAME. Error texts are upstream's.
 */
export async function resolveNodeName(env: NodeJS.ProcessEnv, api: Pick<KubeApi, 'getPodNodeName'>): Promise<string> {
  const nodeName = env['NODE_NAME'] ?? '';
  if (nodeName !== '') return nodeName;
  const podName = env['POD_NAME'] ?? '';
  const podNamespace = env['POD_NAMESPACE'] ?? '';
  if (podName === '' || podNamespace === '') throw new Error('env variables POD_NAME and POD_NAMESPACE must be set');
  let fromPod: string;
  try {
    fromPod = await api.getPodNodeName(podNamespace, podName);
  } catch (e) {
    throw new Error(`error retrieving pod spec for '${podNamespace}/${podName}': ${errorText(e)}`);
  }
  if (fromPod === '') throw new Error(`node name not present in pod spec '${podNamespace}/${podName}'`);
  return fromPod;
}

/**
 * EVENT_QUEUE_DEPTH as upstream validates it (default 5000; ≤ 0 → default; not an integer →
 * fatal). Events here are delivered as batches without a bounded queue, so the value only limits
 * nothing; it is accepted so manifests that set it keep working.
 */
export function eventQueueDepth(env: NodeJS.ProcessEnv): number {
  const text = env['EVENT_QUEUE_DEPTH'];
  if (text === undefined || text === '') return 5000;
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`env EVENT_QUEUE_DEPTH=${text} format error: strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  const n = Number(text);
  return n > 0 ? n : 5000;
}
