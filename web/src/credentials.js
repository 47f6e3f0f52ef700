// The device's credentials, asked for once and kept in this browser's localStorage so that
// the queue can still be sent after the laptop restarts without a network. They are the
// device credentials a supervisor created (POST /openrosa/devices, revocable there) or a
// bearer token; "Sign this device out" forgets them.
const KEY = 'retour.form.authorization';

export function basicAuthorization(username, password) {
  // UTF-8 first: btoa alone rejects any character outside Latin-1.
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

export function bearerAuthorization(token) {
  return `Bearer ${token.trim().replace(/^Bearer\s+/i, '')}`;
}

export function savedAuthorization() {
  return localStorage.getItem(KEY);
}

export function saveAuthorization(header) {
  localStorage.setItem(KEY, header);
}

export function forgetAuthorization() {
  localStorage.removeItem(KEY);
}
