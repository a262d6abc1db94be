// A working agent server: streams its answer word by word. `node examples/agent-server.mjs`
import { serve } from 'clawsocket';

const host = await serve({
  port: Number(process.env.PORT ?? 18800),
  host: '127.0.0.1',
  config: { auth: { enabled: false } },
  async *agent(turn) {
    for (const word of `You said: ${turn.content}`.split(' ')) yield `${word} `;
  },
});
console.log(`agent server on ${host.url}`);
