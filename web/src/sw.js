// The service worker of the offline form (emitted by vite.config.js with this build's file
// list). It keeps the page's own files: the page opens without a network, and its files come
// from this build only. It never touches the XForm, the submissions or anything outside
// /form/: the page keeps the form and the queue in IndexedDB itself, with its credentials.
const SHELL = __SHELL__;
const CACHE = `retour-form-${__VERSION__}`;
const SCOPE = new URL(self.registration.scope).pathname;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith('retour-form-') && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith(SCOPE)) return;
  if (event.request.mode === 'navigate') event.respondWith(pageFirstFromNetwork(event.request));
  else event.respondWith(fileFromCache(event.request));
});

// The page from the network when there is one (a new build is picked up at once), else the
// kept copy.
async function pageFirstFromNetwork(request) {
  try {
    return await fetch(request);
  } catch {
    const cache = await caches.open(CACHE);
    return (await cache.match(SCOPE)) ?? Response.error();
  }
}

// Hashed file names never change content: the kept copy is always right.
async function fileFromCache(request) {
  const cache = await caches.open(CACHE);
  return (await cache.match(request, { ignoreSearch: true })) ?? fetch(request);
}
