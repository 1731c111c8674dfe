// Sign-in with an access token. The token is checked with GET /v1/whoami before it is kept, and then
// only in sessionStorage.
import { useState } from 'preact/hooks';
import { ApiError, ok, sdk } from '../api.ts';
import { session, type Who } from '../session.ts';

export function SignIn(props: { notice?: string; onSignedIn: (who: Who) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Paste an access token (it starts with "pdk.").');
      return;
    }
    setBusy(true);
    setError(undefined);
    session.save(value);
    try {
      const who: Who = await ok(sdk().api.GET('/v1/whoami'));
      setToken('');
      props.onSignedIn(who);
    } catch (err) {
      session.forget();
      setError(err instanceof ApiError ? `${err.message} (${err.code})` : 'The cluster did not answer.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="center">
      <form class="card signin" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Paddock</h1>
        {props.notice && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby="token-help"
          aria-invalid={error ? true : undefined}
        />
        <p id="token-help" class="help">
          Kept in this tab only; closing the tab or signing out forgets it.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
