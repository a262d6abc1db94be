// The agent server and a client in TypeScript (checked by `tsc --noEmit` in the tests).
import { connect, serve, type AgentTurn, type ReplyResult } from 'clawsocket';

async function* agent(turn: AgentTurn, { signal }: { signal: AbortSignal }): AsyncGenerator<string> {
  const words = `Hello ${turn.senderName ?? turn.senderId}, you said: ${turn.content}`.split(' ');
  for (const word of words) {
    if (signal.aborted) return;
    yield `${word} `;
  }
}

const host = await serve({ agent, port: 0, host: '127.0.0.1', config: { auth: { enabled: false } } });
const client = await connect(host.url, { senderId: 'ts-user', protocol: 2, stream: 'delta' });
const reply = client.send({ content: 'typed hello', customData: { lang: 'ts' } });
for await (const part of reply) process.stdout.write(part.delta);
const result: ReplyResult = await reply.result;
console.log(`\n${result.messageId}: ${result.text.trim()} (connections: ${host.core.connectionCount})`);
client.close();
await host.close();
