// The console's shell: sign-in until a token is known and good (GET /v1/whoami), then the
// navigation and the current view. A 401 from any call, or a stream ending because the token was
// revoked or expired, forgets the token and returns here with the reason.
import { useEffect, useState } from 'preact/hooks';
import { ok, sdk, setUnauthorizedHandler } from './api.ts';
import { href, type Route, useRoute } from './router.ts';
import { session, type Who } from './session.ts';
import { SignIn } from './views/signin.tsx';
import { Approvals } from './views/approvals.tsx';
import { Threads } from './views/threads.tsx';
import { ThreadView } from './views/thread.tsx';
import { Denials } from './views/denials.tsx';
import { Reviews } from './views/reviews.tsx';
import { Usage } from './views/usage.tsx';
import { Tokens } from './views/tokens.tsx';

const NAV: { route: Route; label: string }[] = [
  { route: { view: 'approvals' }, label: 'Approvals' },
  { route: { view: 'threads' }, label: 'Threads' },
  { route: { view: 'denials' }, label: 'Denials' },
  { route: { view: 'reviews' }, label: 'Reviews' },
  { route: { view: 'usage' }, label: 'Usage' },
  { route: { view: 'tokens' }, label: 'Tokens' },
];

export function App() {
  const [who, setWho] = useState<Who | null>(null);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [checking, setChecking] = useState(session.token() !== null);
  const route = useRoute();

  const signOut = (message?: string) => {
    session.forget();
    setWho(null);
    setNotice(message);
  };

  useEffect(() => {
    setUnauthorizedHandler((message) => signOut(`Signed out: ${message}`));
    if (!session.token()) return;
    ok(sdk().api.GET('/v1/whoami'))
      .then(setWho)
      .catch(() => signOut('Signed out: the saved token is no longer valid'))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <main class="center" aria-busy="true">Checking your token…</main>;
  if (!who) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(w) => {
          setNotice(undefined);
          setWho(w);
        }}
      />
    );
  }

  const current = route.view === 'thread' ? 'threads' : route.view;
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/approvals">
          Paddock
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={href(n.route)} aria-current={current === n.route.view ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span title={`workspace ${who.workspace_id}`}>
            {who.email} · {who.role}
          </span>
          <button type="button" class="link" onClick={() => signOut('You signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {route.view === 'approvals' && <Approvals />}
        {route.view === 'threads' && <Threads />}
        {route.view === 'thread' && <ThreadView id={route.id} />}
        {route.view === 'denials' && <Denials />}
        {route.view === 'reviews' && <Reviews />}
        {route.view === 'usage' && <Usage who={who} />}
        {route.view === 'tokens' && <Tokens who={who} />}
      </main>
    </div>
  );
}
