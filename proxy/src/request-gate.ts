// The stages every request passes before anything leaves for Lattice, whatever protocol it came in on: the
// allowlist, credentials, the trusted root, then the signature. Fail closed: each refusal throws its ProxyError
// and nothing is signed for a host outside the allowlist or sent unsigned.

import type { AppContext } from './app-connection.js';
import { NoCredentialsError, NotReadyError, SigningError, TargetNotAllowedError } from './errors.js';
import type { PreparedHeaders } from './headers.js';
import { signRequest } from './signed-request.js';
import type { ResolvedTarget } from './target-cache.js';

/** The Authorization header value for this request, or the refusal. `addEmptyContentLength`: see signRequest. */
export function allowAndSign(ctx: AppContext, method: string, target: ResolvedTarget, prepared: PreparedHeaders, addEmptyContentLength: boolean): string {
  if (!target.allowed) throw new TargetNotAllowedError(target.host);
  const creds = ctx.credentials.current();
  if (creds === undefined) {
    ctx.metrics.signingFailure('no_credentials');
    throw new NoCredentialsError(ctx.credentials.state().status === 'expired' ? 'the cached credentials expired and could not be refreshed' : 'credentials have not been fetched yet');
  }
  if (!ctx.upstream.ready) throw new NotReadyError('the trusted Private CA root is not loaded yet');
  try {
    ctx.credentialCheck.check(creds);
    return signRequest(method, target.path, target.authority, prepared, addEmptyContentLength, ctx.signer, creds, Date.now());
  } catch (err) {
    if (err instanceof SigningError) ctx.metrics.signingFailure('error');
    throw err;
  }
}
