// The two OpenRosa endpoints of intake the page uses, on its own origin: the XForm, and
// POST /submission (multipart, the instance in the part "xml_submission_file", as ODK
// Collect sends it).
export const FORM_URL = '/forms/retour_registration.xml';
const SUBMISSION_URL = '/submission';
const OPENROSA_HEADERS = { 'X-OpenRosa-Version': '1.0' };

export class Unauthorized extends Error {}

export async function downloadForm(authorization) {
  const response = await fetch(FORM_URL, {
    headers: { ...OPENROSA_HEADERS, Authorization: authorization },
    cache: 'no-store',
    credentials: 'omit',
  });
  if (response.status === 401 || response.status === 403) throw new Unauthorized();
  if (!response.ok) throw new Error(`form download answered ${response.status}`);
  return response.text();
}

// What became of one attempt: "sent" (201: intake has it, or had it already: the instanceID
// is the idempotency key), "retry" (no network, a timeout, a 5xx, anything not final),
// "unauthorized" (keep it, the device must sign in again) or "rejected" (a final 4xx: the
// registration itself is refused, with intake's message naming the field).
export async function submit(xml, authorization) {
  const body = new FormData();
  body.append('xml_submission_file', new File([xml], 'submission.xml', { type: 'text/xml' }));
  let response;
  try {
    response = await fetch(SUBMISSION_URL, {
      method: 'POST',
      body,
      headers: { ...OPENROSA_HEADERS, Authorization: authorization },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    return { outcome: 'retry' };
  }
  if (response.status === 201) return { outcome: 'sent' };
  if (response.status === 401) return { outcome: 'unauthorized' };
  if (isFinal(response.status)) {
    return { outcome: 'rejected', message: await openRosaMessage(response) };
  }
  return { outcome: 'retry' };
}

// 408 (timeout), 425 and 429 (too early, too many) are worth another try; any other 4xx
// would be answered the same way again.
function isFinal(status) {
  return status >= 400 && status < 500 && ![408, 425, 429].includes(status);
}

async function openRosaMessage(response) {
  const text = await response.text().catch(() => '');
  const document = new DOMParser().parseFromString(text, 'application/xml');
  const message = document.getElementsByTagNameNS('*', 'message')[0]?.textContent?.trim();
  return message || `HTTP ${response.status}`;
}

export function instanceIdOf(xml) {
  const document = new DOMParser().parseFromString(xml, 'application/xml');
  const id = document.getElementsByTagNameNS('*', 'instanceID')[0]?.textContent?.trim();
  if (!id) throw new Error('the instance has no meta/instanceID');
  return id;
}
