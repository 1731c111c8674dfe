// The workspace's access tokens as the permission model shows them (owners and admins: all; members:
// their own, when allowed a token page at all), with revoke. Secrets are never shown here.
import { useState } from 'preact/hooks';
import { ApiError, ok, sdk } from '../api.ts';
import { usePoll } from '../poll.ts';
import type { Who } from '../session.ts';

type Token = {
  id: string;
  name: string;
  member_email: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  scopes: string[];
};

export function Tokens(props: { who: Who }) {
  const ws = props.who.workspace_id;
  const { value, error, refresh } = usePoll(
    async () =>
      (await ok(sdk().api.GET('/v1/workspaces/{ws}/access-tokens', { params: { path: { ws }, query: { limit: 100 } } }))) as {
        items: Token[];
      },
    10_000,
  );
  const [message, setMessage] = useState<string | undefined>(undefined);
  const revoke = async (t: Token) => {
    if (t.id === props.who.token_id && !confirm('This is the token you are signed in with. Revoke it?')) return;
    try {
      await ok(sdk().api.DELETE('/v1/workspaces/{ws}/access-tokens/{id}', { params: { path: { ws, id: t.id } } }));
      setMessage(`Revoked ${t.name}.`);
    } catch (e) {
      setMessage(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
    }
    await refresh();
  };
  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">Access tokens</h1>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {error && <p class="error">{error}</p>}
      {value && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Member</th>
              <th scope="col">Scopes</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {value.items.map((t) => (
              <tr key={t.id}>
                <td>
                  {t.name}
                  {t.id === props.who.token_id && <span class="muted"> (this session)</span>}
                </td>
                <td>{t.member_email}</td>
                <td>{t.scopes.join(', ')}</td>
                <td>{t.expires_at ? new Date(t.expires_at).toLocaleDateString() : 'never'}</td>
                <td>{t.revoked_at ? 'revoked' : 'active'}</td>
                <td>
                  {!t.revoked_at && (
                    <button type="button" class="danger small" onClick={() => revoke(t)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
