import type { JsonObject } from './patch.ts';

/** A metav1.Status failure body, shaped as the API server sends it (field order included). */
export function failureStatus(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  const s: JsonObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
  if (details !== undefined) s['details'] = details;
  s['code'] = code;
  return s;
}

export function notFound(resource: string, name: string): JsonObject {
  return failureStatus(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });
}

export function alreadyExists(resource: string, name: string): JsonObject {
  return failureStatus(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource });
}

export function unsupportedPatchType(contentType: string): JsonObject {
  return failureStatus(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${JSON.stringify(contentType)})`,
  );
}

export function unauthorized(): JsonObject {
  return failureStatus(401, 'Unauthorized', 'Unauthorized');
}

/** The ERROR event object a watch gets when its resourceVersion left the history window. */
export function expired(requested: number, oldest: number): JsonObject {
  return failureStatus(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** A list's continue token from before the last compaction (the apiserver's words). */
export function continueExpired(): JsonObject {
  return failureStatus(
    410,
    'Expired',
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
  );
}
