// Sends the queue. One sender at a time, across every tab of this browser (a Web Lock), so an
// instance is never posted twice at once; a resend after a lost answer is harmless anyway,
// since intake keys submissions by instanceID. An item leaves the queue only once intake
// answered 201; a final refusal stays, shown with intake's message, until someone resends or
// deletes it.
import { submit } from './openrosa.js';
import { markRejected, queuedSubmissions, removeSubmission } from './store.js';

const LOCK = 'retour-form-outbox';

export async function sendQueue(authorization) {
  const run = () => sendWaiting(authorization);
  if (navigator.locks) return navigator.locks.request(LOCK, run);
  return run();
}

async function sendWaiting(authorization) {
  const waiting = (await queuedSubmissions()).filter((item) => item.state === 'waiting');
  waiting.sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
  for (const item of waiting) {
    const result = await submit(item.xml, authorization);
    if (result.outcome === 'sent') await removeSubmission(item.instanceID);
    else if (result.outcome === 'rejected') await markRejected(item.instanceID, result.message);
    else return result.outcome; // no network or no credentials: the rest would fail alike
  }
  return 'done';
}
