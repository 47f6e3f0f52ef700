// Builds the offline registration form into intake's package, served at /form/ by
// services/intake/src/retour_intake/entrypoints/web_form.py. Everything the page needs is in
// this bundle (ODK Web Forms inlines its fonts and its XPath WebAssembly): nothing is fetched
// from another origin at run time.
import { readFileSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';

import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const OUT_DIR = fileURLToPath(
  new URL('../services/intake/src/retour_intake/static/form', import.meta.url),
);

// The service worker is emitted after the bundle, with the exact list of hashed files it must
// keep, so a reload without a network still finds every file of this build (and a new build,
// whose list differs, replaces the old cache instead of mixing two versions).
function serviceWorker() {
  return {
    name: 'retour-service-worker',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((name) => !name.endsWith('.map'));
      const shell = ['./', ...files.sort()];
      const source = readFileSync(new URL('./src/sw.js', import.meta.url), 'utf8')
        .replace('__SHELL__', JSON.stringify(shell))
        .replace('__VERSION__', JSON.stringify(hashOf(shell.join('\n'))));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

function hashOf(text) {
  let hash = 0;
  for (let i = 0; i < text.length; i += 1) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return (hash >>> 0).toString(16);
}

export default defineConfig({
  base: '/form/',
  plugins: [vue(), serviceWorker()],
  build: {
    // ODK Web Forms awaits its XPath parser at the top level of its module.
    target: 'es2022',
    outDir: OUT_DIR,
    emptyOutDir: true,
    // ODK Web Forms is one large module (its XPath engine, PrimeVue, OpenLayers for maps):
    // it is served from this origin and cached by the service worker, so its size is paid
    // once per build, not per registration.
    chunkSizeWarningLimit: 6000,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: {
      onwarn(warning, warn) {
        // ODK Web Forms' bundled Emscripten loader (its XPath parser) mentions eval on a code
        // path browsers never take; the page's CSP allows no eval anyway.
        if (warning.code === 'EVAL' && warning.id?.includes('@getodk/web-forms')) return;
        warn(warning);
      },
    },
  },
});
