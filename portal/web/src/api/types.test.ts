import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { expect, it } from 'vitest';
import committed from './types.ts?raw';

// The contract as a file:// string. Not `new URL('…', import.meta.url)`:
// Vite rewrites that literal form into an asset URL served over HTTP; and
// not a URL object: jsdom's URL class is not the one the generator checks for.
const here = import.meta.url;
const contract = new URL('../../../openapi.json', here).href;

// The generator runs here as `npm run generate:api-types` runs it (the same
// options), on the contract as it is now: types.ts must be what it gives.
it('types.ts is what openapi-typescript generates from portal/openapi.json', async () => {
  const generated = COMMENT_HEADER + astToString(await openapiTS(contract, { emptyObjectsUnknown: true, silent: true }));
  expect(committed === generated, 'src/api/types.ts is stale: run `make generate-ui-types`').toBe(true);
});
