// The laptop's own storage (IndexedDB): the queue of registrations not yet accepted by intake,
// and the last copy of the form, so that a registrar can keep working without a network.
// Queued registrations hold personal data: they stay here only until intake accepts them
// (or until someone deletes a refused one); web/README.md says how to clear them.
const DB_NAME = 'retour-form';
const QUEUE = 'queue';
const FORMS = 'forms';

let opening = null;

function database() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      // The instanceID is the key: queueing the same instance twice keeps one copy, and
      // intake treats it as the submission's idempotency key, so one instance is one person.
      request.result.createObjectStore(QUEUE, { keyPath: 'instanceID' });
      request.result.createObjectStore(FORMS);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

async function run(storeName, mode, action) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(storeName, mode);
    const result = action(transaction.objectStore(storeName));
    transaction.oncomplete = () => resolve(result.result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

export function queueSubmission(instanceID, xml) {
  const item = { instanceID, xml, queuedAt: new Date().toISOString(), state: 'waiting' };
  return run(QUEUE, 'readwrite', (store) => store.put(item));
}

export function queuedSubmissions() {
  return run(QUEUE, 'readonly', (store) => store.getAll());
}

export function markRejected(instanceID, message) {
  return updateItem(instanceID, { state: 'rejected', message });
}

export function markWaiting(instanceID) {
  return updateItem(instanceID, { state: 'waiting', message: null });
}

async function updateItem(instanceID, changes) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(QUEUE, 'readwrite');
    const store = transaction.objectStore(QUEUE);
    const read = store.get(instanceID);
    read.onsuccess = () => {
      if (read.result) store.put({ ...read.result, ...changes });
    };
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
  });
}

export function removeSubmission(instanceID) {
  return run(QUEUE, 'readwrite', (store) => store.delete(instanceID));
}

export function keepForm(url, xml) {
  return run(FORMS, 'readwrite', (store) => store.put(xml, url));
}

export function keptForm(url) {
  return run(FORMS, 'readonly', (store) => store.get(url));
}
