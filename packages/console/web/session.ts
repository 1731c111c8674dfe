// The signed-in token: kept in sessionStorage only (gone when the tab closes; never a cookie, never
// in a URL). Signing out, or the API saying the token is no longer good, forgets it.
const KEY = 'paddock.console.token';

export type Who = { workspace_id: string; email: string; role: string; token_id: string; scopes: string[] };

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  save: (token: string): void => sessionStorage.setItem(KEY, token),
  forget: (): void => sessionStorage.removeItem(KEY),
};
