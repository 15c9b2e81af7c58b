/**
 * A UDP socket that takes NOTIFY messages for pulled zones and answers them (answerNotify).
 * For a secondary that has no DNS server of its own on the address its primary notifies;
 * the firewall's DNS server instead passes NOTIFY messages to `answerNotify` itself.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { formatHostPort, type HostPort } from '../../core/index.ts';
import { decodeMessage, encodeMessage, Opcode, RCode } from '../wire/index.ts';
import { answerNotifyWire, type NotifyReceiver } from './notify.ts';
import { headerOnlyReply } from './xfr.ts';
import type { XfrLogger } from './secondary.ts';

export class NotifyListener {
  private sock: Socket | undefined;
  private bound: HostPort | undefined;
  received = 0;

  constructor(
    private readonly listen: HostPort,
    private readonly receivers: () => Iterable<NotifyReceiver>,
    private readonly log?: XfrLogger,
  ) {}

  get address(): HostPort {
    if (!this.bound) throw new Error('the NOTIFY listener is not started');
    return this.bound;
  }

  async start(): Promise<void> {
    const sock = createSocket({ type: isIPv6(this.listen.host) ? 'udp6' : 'udp4' });
    sock.on('message', (buf, rinfo) => {
      const d = decodeMessage(buf);
      if (!d.ok || d.value.header.qr) return;
      this.received++;
      const from = `${rinfo.address}:${rinfo.port}`;
      if (d.value.header.opcode !== Opcode.NOTIFY) {
        sock.send(encodeMessage(headerOnlyReply(d.value, RCode.REFUSED)), rinfo.port, rinfo.address);
        return;
      }
      const a = answerNotifyWire(buf, d.value, rinfo.address, this.receivers());
      const rcode = a.reply[3]! & 0x0f;
      if (a.refusal) this.log?.warn({ from, zone: d.value.questions[0]?.name, rcode }, `NOTIFY refused: ${a.refusal}`);
      else this.log?.info({ from, zone: d.value.questions[0]?.name, rcode }, 'NOTIFY received');
      sock.send(a.reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.listen.port, this.listen.host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (err) => this.log?.warn({ err: err.message, listen: formatHostPort(this.listen) }, 'NOTIFY listener socket error'));
    const a = sock.address();
    this.bound = { host: a.address, port: a.port };
    this.sock = sock;
  }

  async stop(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
