// ESM entry: the same objects as the CommonJS entry (one native module instance).
import cjs from './index.js';

export const {
  Server,
  Client,
  Config,
  PROTOCOL_VERSION,
  CLOSE_AUTH,
  CLOSE_TIMEOUT,
  CLOSE_GOING_AWAY,
  errorCodes,
  buildSend,
  drain,
  serve,
  connect,
  ChatClient,
} = cjs;
export default cjs;
