// Session resumption, the abbreviated handshake (RFC 5246 §7.3, RFC 6347 §4.2.4):
//
//   ClientHello (session id of an earlier session)  ->
//                                                   <-  [HelloVerifyRequest; ClientHello again]
//                                                   <-  ServerHello (the same session id),
//                                                       ChangeCipherSpec, Finished
//   ChangeCipherSpec, Finished                      ->
//
// The server proves it still holds the earlier master secret with its Finished; no certificate,
// key exchange or signature is sent, so a reconnect costs one round trip after the cookie
// exchange instead of two. The keys come from the kept master secret and the two new randoms.
// A server that does not know (or does not want) the session answers with another session id
// and the full handshake follows, as if nothing had been offered.
//
// What is kept (ResumableSession) is a secret: it lives in memory only, per connection owner
// (the CoAP transport of one device), and is dropped when a handshake with it fails.
import { protocolError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import type { ServerHello } from '../protocol/messages';

export interface ResumableSession {
  /** The server's session id (1–32 bytes). */
  readonly sessionId: Buffer;
  readonly masterSecret: Buffer;
  /** The cipher suite the session was made with: a resumption must keep it (RFC 5246 §7.4.1.3). */
  readonly cipherSuite: number;
  /** RFC 7627 §5.3: a session made with the extended master secret resumes only with it, and one without only without. */
  readonly extendedMasterSecret: boolean;
  /** The name the server certificate was verified for: never offered to another server name. */
  readonly identity: string;
}

/** The session id to put in our ClientHello: the kept one when it was made for this server name. */
export function offeredSessionId(resume: ResumableSession | undefined, identity: string): Buffer {
  return resume && resume.identity === identity ? resume.sessionId : Buffer.alloc(0);
}

/**
 * Whether the ServerHello resumes the offered session: it echoes our (non-empty) session id.
 * Throws when it does so with parameters the session was not made with.
 */
export function resumes(resume: ResumableSession | undefined, offered: Buffer, hello: ServerHello, extendedMasterSecret: boolean): resume is ResumableSession {
  if (!resume || offered.length === 0 || !hello.sessionId.equals(offered)) return false;
  if (hello.cipherSuite !== resume.cipherSuite) {
    throw protocolError(`the server resumed the session with cipher suite 0x${hello.cipherSuite.toString(16)}, not the session's 0x${resume.cipherSuite.toString(16)}`, AlertDescription.illegal_parameter);
  }
  if (extendedMasterSecret !== resume.extendedMasterSecret) {
    throw protocolError('the server resumed the session with a different extended_master_secret choice (RFC 7627 §5.3)', AlertDescription.handshake_failure);
  }
  return true;
}
