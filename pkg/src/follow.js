// One event stream for every environment of an origin.
import { baseOf } from './origin.js';
import { followStream } from './sse.js';

/**
 * Follows every environment of one origin on its `/events` stream — one connection, where a
 * browser holds at most six per origin — and hands each announcement to the client of its
 * environment (`clients`: environment → client created with that environment's `url`).
 * The stream has no ids: on every connect each client refreshes (ETags make that cheap), so
 * nothing committed while it was not connected is missed. `onLive(true | false)`
 * reports whether the stream is connected. Returns `{ close() }`.
 */
export function followEnvironments(url, clients, { fetch: fetchFn, onLive, maxBackoff = 15000 } = {}) {
  let closed = false;
  let stream = null;
  followStream(`${baseOf(url)}/events`, {
    fetch: fetchFn ?? fetch,
    headers: () => ({}),
    connecting: (abort) => {
      stream = abort;
      if (abort === null) onLive?.(false);
    },
    closed: () => closed,
    onOpen: () => {
      onLive?.(true);
      for (const client of clients.values()) client.refresh();
    },
    onEvent: async (event) => {
      if (event.type !== 'snapshot') return;
      const { environment, version } = JSON.parse(event.data);
      await clients.get(environment)?.announce(version);
    },
    onError: () => onLive?.(false),
    maxBackoff,
  });
  return {
    close() {
      closed = true;
      stream?.abort();
    },
  };
}

