// French first, English second, side by side: a registrar reads one, a visitor the other,
// and nobody has to find a language switch before the form works.
const TEXTS = {
  title: ['Enregistrement des personnes de retour', 'Registration of returnees'],
  signInTitle: ['Connexion de cet appareil', 'Sign this device in'],
  signInHelp: [
    'Saisissez une fois les identifiants de l’appareil remis par votre superviseur, ou un jeton.',
    'Enter once the device credentials your supervisor gave you, or a token.',
  ],
  username: ['Identifiant de l’appareil', 'Device username'],
  password: ['Mot de passe', 'Password'],
  orToken: ['ou jeton (Bearer)', 'or token (Bearer)'],
  signIn: ['Se connecter', 'Sign in'],
  signOut: ['Déconnecter cet appareil', 'Sign this device out'],
  badCredentials: ['Identifiants refusés par le serveur.', 'The server refused these credentials.'],
  missingCredentials: [
    'Saisissez un identifiant et un mot de passe, ou un jeton.',
    'Enter a username and a password, or a token.',
  ],
  loadingForm: ['Chargement du formulaire…', 'Loading the form…'],
  formUnavailable: [
    'Formulaire indisponible : connectez-vous au réseau une première fois.',
    'Form unavailable: connect to the network once first.',
  ],
  offlineForm: [
    'Hors ligne : formulaire enregistré sur cet ordinateur.',
    'Offline: using the copy of the form kept on this computer.',
  ],
  online: ['En ligne', 'Online'],
  offline: ['Hors ligne', 'Offline'],
  queued: ['Enregistrement mis en file d’attente.', 'Registration queued.'],
  sending: ['Envoi en cours…', 'Sending…'],
  willRetry: [
    'Pas de connexion au serveur : envoi automatique au retour du réseau.',
    'No connection to the server: it will be sent when the network returns.',
  ],
  signInAgain: [
    'Le serveur refuse les identifiants : reconnectez l’appareil pour envoyer la file.',
    'The server refuses the credentials: sign the device in again to send the queue.',
  ],
  rejectedTitle: ['Refusés par le serveur', 'Refused by the server'],
  retry: ['Renvoyer', 'Send again'],
  discard: ['Supprimer', 'Delete'],
  discardConfirm: [
    'Supprimer définitivement cet enregistrement de cet ordinateur ?',
    'Delete this registration from this computer for good?',
  ],
  sendNow: ['Envoyer maintenant', 'Send now'],
};

export function t(key) {
  const [fr, en] = TEXTS[key];
  return `${fr} / ${en}`;
}

export function waitingText(count) {
  return `${count} en attente d’envoi / ${count} waiting to be sent`;
}

export function rejectedText(count) {
  return `${count} refusé(s) / ${count} refused`;
}
