// Hash routes (#/approvals, #/threads/<id>, …): the server serves one page for /console/, and a
// route never carries a secret.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { view: 'approvals' }
  | { view: 'threads' }
  | { view: 'thread'; id: string }
  | { view: 'denials' }
  | { view: 'reviews' }
  | { view: 'usage' }
  | { view: 'tokens' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'threads':
      return parts[1] ? { view: 'thread', id: parts[1] } : { view: 'threads' };
    case 'denials':
    case 'reviews':
    case 'usage':
    case 'tokens':
      return { view: parts[0] };
    default:
      return { view: 'approvals' };
  }
}

export const href = (r: Route): string =>
  r.view === 'thread' ? `#/threads/${encodeURIComponent(r.id)}` : `#/${r.view}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
