// Bundles the workflow code once at build time, so a worker starts in well
// under a second instead of running webpack on every start.
import { writeFileSync } from 'node:fs';
import { bundleWorkflows, prebuiltBundlePath } from '../workers/worker';

bundleWorkflows().then(
  (bundle) => {
    writeFileSync(prebuiltBundlePath(), bundle.code);
    console.log(`workflow bundle: ${prebuiltBundlePath()} (${Math.round(bundle.code.length / 1024)} KiB)`);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
