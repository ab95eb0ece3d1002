// ESM entry of @warden/node (the implementation is lib/index.cjs).
import cjs from './index.cjs';

export const { Warden, WardenError } = cjs;
export default cjs;
