import { webFormsPlugin } from '@getodk/web-forms';
import { createApp } from 'vue';

import App from './App.vue';
import './page.css';

createApp(App).use(webFormsPlugin).mount('#app');

// The service worker keeps this page's files, so a reload without a network still opens the
// form (the form itself and the queue live in IndexedDB, see store.js).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker
    .register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL })
    .catch((error) => console.warn('service worker not registered', error.message));
}
