// Server-sent events, parsed as the HTML standard says, from a fetch body (EventSource takes
// no headers, and the client sends Last-Event-ID and an origin token).

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
