// Server-sent events, parsed as the HTML standard says, from a fetch body (EventSource takes
// no headers, and the client sends Last-Event-ID and an origin token), and followed across
// drops with backoff.
import { SnapshotError } from './boundary.js';

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Follows the event stream at `url` until `closed()`: each event goes to `onEvent` (awaited,
 * in order); after a drop it reconnects with backoff, up to `maxBackoff` ms. `connecting`
 * gets the AbortController of each attempt (null once it is over), `headers()` the headers
 * of each attempt, `onOpen` each successful connect. Resolves 'not-a-stream' when the origin
 * answers with anything but an event stream (it serves files, not streams), else 'closed'.
 */
export async function followStream(url, { fetch, headers, connecting, closed, onOpen, onEvent, onError, maxBackoff }) {
  let backoff = 250;
  const wait = async () => {
    await sleep(backoff);
    backoff = Math.min(backoff * 2, maxBackoff);
  };
  while (!closed()) {
    const abort = new AbortController();
    connecting(abort);
    let res;
    try {
      res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers() }, signal: abort.signal, cache: 'no-store' });
    } catch (e) {
      connecting(null);
      if (closed()) return 'closed';
      onError(new SnapshotError('FETCH_FAILED', `GET ${url}: ${e?.message ?? e}`));
      await wait();
      continue;
    }
    if (!res.ok || !(res.headers.get('Content-Type') ?? '').startsWith('text/event-stream') || !res.body) {
      connecting(null);
      res.body?.cancel().catch(() => {});
      // A 5xx may be passing; anything else means this origin serves files, not streams.
      if (res.status >= 500) {
        await wait();
        continue;
      }
      return 'not-a-stream';
    }
    backoff = 250;
    onOpen?.();
    try {
      for await (const event of serverSentEvents(res.body)) await onEvent(event);
    } catch (e) {
      if (closed()) return 'closed';
      if (e?.name !== 'AbortError') onError(new SnapshotError('FETCH_FAILED', `${url}: ${e?.message ?? e}`));
    }
    // However the stream ended, its connection is closed before the next one opens.
    abort.abort();
    connecting(null);
    if (!closed()) await sleep(backoff);
  }
  return 'closed';
}

/**
 * The events of a `text/event-stream` body, as the HTML standard parses them: fields up to
 * a blank line, `data` lines joined, comments (heartbeats) skipped.
 */
export async function* serverSentEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { type: 'message', data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
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
        if (field === 'data') event.data.push(value);
        else if (field === 'event') event.type = value;
        else if (field === 'id') event.id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
