// Server-sent events, parsed as the HTML standard says, from a fetch body (EventSource takes
// no headers, and the client sends Last-Event-ID and an origin token), and followed across
// drops with backoff.
import { SnapshotError } from './boundary.js';

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Longest line, and most data in one event, a stream may send (a snapshot event is ~100 B). */
const MAX_LINE = 64 * 1024;
const MAX_EVENT = 1024 * 1024;

/**
 * Follows the event stream at `url` until `closed()`: each event goes to `onEvent` (awaited,
 * in order); after a drop it reconnects with backoff, up to `maxBackoff` ms. `connecting`
 * gets the AbortController of each attempt (null once it is over), `headers()` the headers
 * of each attempt, `onOpen` each successful connect. A stream silent for `idleTimeout` ms
 * (the server sends heartbeats) is taken for half-open and replaced. Resolves 'not-a-stream'
 * when the origin answers with anything but an event stream (it serves files, not streams),
 * else 'closed'.
 */
export async function followStream(url, { fetch, headers, connecting, closed, onOpen, onEvent, onError, maxBackoff, idleTimeout = 45000 }) {
  let backoff = 250;
  const wait = async () => {
    await sleep(backoff);
    backoff = Math.min(backoff * 2, maxBackoff);
  };
  while (!closed()) {
    const abort = new AbortController();
    connecting(abort);
    // Silence for `idleTimeout` — no answer to the request, or no bytes on the stream — is a
    // half-open connection: it is abandoned and replaced.
    let watchdog;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), idleTimeout);
    };
    alive();
    let res;
    try {
      res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers() }, signal: abort.signal, cache: 'no-store' });
    } catch (e) {
      clearTimeout(watchdog);
      connecting(null);
      if (closed()) return 'closed';
      onError(new SnapshotError('FETCH_FAILED', `GET ${url}: ${e?.message ?? e}`));
      await wait();
      continue;
    }
    if (!res.ok || !(res.headers.get('Content-Type') ?? '').startsWith('text/event-stream') || !res.body) {
      clearTimeout(watchdog);
      connecting(null);
      res.body?.cancel().catch(() => {});
      // A 5xx may be passing; anything else means this origin serves files, not streams.
      if (res.status >= 500) {
        await wait();
        continue;
      }
      return 'not-a-stream';
    }
    onOpen?.();
    alive();
    let failed = false;
    try {
      for await (const event of serverSentEvents(res.body, alive)) {
        await onEvent(event);
        // Only a stream that delivers is healthy: one whose events fail keeps backing off.
        backoff = 250;
      }
    } catch (e) {
      failed = true;
      if (closed()) return 'closed';
      if (e?.name !== 'AbortError') onError(new SnapshotError('FETCH_FAILED', `${url}: ${e?.message ?? e}`));
    } finally {
      clearTimeout(watchdog);
    }
    // However the stream ended, its connection is closed before the next one opens.
    abort.abort();
    res.body.cancel().catch(() => {});
    connecting(null);
    if (!closed()) await (failed ? wait() : sleep(backoff));
  }
  return 'closed';
}

/**
 * The events of a `text/event-stream` body, as the HTML standard parses them: fields up to
 * a blank line, `data` lines joined, comments (heartbeats) skipped.
 */
export async function* serverSentEvents(body, onBytes = () => {}) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { type: 'message', data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        // A CR held back as maybe half of a CRLF ends a line too when nothing follows: the
        // stream's last blank line may be one (the fuzzer found events lost to it).
        if (!buffer.endsWith('\r')) return;
        buffer += '\n';
      } else {
        onBytes();
        buffer += decoder.decode(value, { stream: true });
      }
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        if (buffer[end] === '\r' && end === buffer.length - 1) break; // maybe half of \r\n
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (event.data.length > 0) yield { type: event.type, data: event.data.join('\n'), id: event.id };
          event = { type: 'message', data: [], id: event.id };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') {
          event.data.push(value);
          event.size = (event.size ?? 0) + value.length;
          if (event.size > MAX_EVENT) throw new Error(`an event of more than ${MAX_EVENT} bytes`);
        }
        else if (field === 'event') event.type = value;
        // As the standard says: an id holding NUL is ignored (it could not be sent back).
        else if (field === 'id' && !value.includes('\0')) event.id = value;
      }
      if (done) return;
      // A line that never ends is not an event stream.
      if (buffer.length > MAX_LINE) throw new Error(`a line of more than ${MAX_LINE} bytes`);
    }
  } finally {
    reader.releaseLock();
  }
}
