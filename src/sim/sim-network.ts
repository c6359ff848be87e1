/**
 * The virtual network: connections between a dialer (a node's appender, or a client) and a
 * node's listener, carrying packed messages with a seeded delay. Faults, all drawn from the seed:
 * drop, duplicate and reorder of single messages, a connection reset, partitions and one-way cuts
 * (a cut link loses every message sent across it; connections cannot be opened across it).
 * A crashed node's connections close; the other end learns of it after a delay, as TCP would.
 * Every message is packed when sent and goes through the validation gateway when it arrives, as on
 * a real socket.
 */
import { encode } from '../messages/codec.js';
import { Kind } from '../messages/kinds.js';
import type { WireError } from '../errors.js';
import { decodeInboundMessage, decodePeerMessage, decodeServerToClientMessage } from '../messages/validate.js';
import type { InboundMessage, PeerMessage, ServerToClientMessage } from '../messages/messages.js';
import type { Inbound, ListenerHandlers } from '../server/listener.js';
import type { PeerConnectionOptions } from '../shell/peer-connection.js';
import type { PeerLink } from '../actors/appender-actor.js';
import type { Life, SimScheduler } from './scheduler.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  /** Probability that a message ignores the FIFO order of its connection. */
  reorderRate: number;
  /** Probability per message that the connection is reset instead. */
  resetRate: number;
  delayMsMin: number;
  delayMsMax: number;
}

export const calmNetwork: NetworkFaults = {
  dropRate: 0, duplicateRate: 0, reorderRate: 0, resetRate: 0, delayMsMin: 0.2, delayMsMax: 2,
};

interface Listening {
  life: Life;
  handlers: ListenerHandlers;
}

export interface NetworkStats {
  messages: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  resets: number;
}

/** One connection. Side 0 is the dialer, side 1 the listening node. */
export class SimConnection {
  closed = false;
  readonly inbound: Inbound & { closed: boolean; peerId: string | null; messagesReceived: number };
  private readonly lastArrival = [0, 0];

  constructor(
    private readonly network: SimNetwork,
    readonly id: number,
    readonly dialerNode: string,
    readonly serverNode: string,
    readonly dialerLife: Life,
    readonly serverLife: Life,
    private readonly listening: Listening,
    private readonly onDialerMessage: (body: Uint8Array) => void,
    readonly onDialerLost: () => void,
  ) {
    const connection = this;
    this.inbound = {
      id,
      closed: false,
      receivedUs: 0,
      peerId: null,
      identity: null,
      messagesReceived: 0,
      identifyPeer(peerId: string): void {
        this.peerId ??= peerId;
      },
      close(): void {
        connection.close(true);
      },
      send(message: unknown): void {
        if (!this.closed) connection.transmit(1, encode(message));
      },
      // Each reply leaves at once, in a batch of one: the simulation's clients keep one call out.
      replyBatched(callId: number, index: number, result: Uint8Array | null, error: WireError | null): void {
        this.send({ k: Kind.ClientReplyBatch, callIds: [callId], indexes: [index], results: [result], errors: [error] });
      },
    };
  }

  sendFromDialer(body: Uint8Array): void {
    this.transmit(0, body);
  }

  /** Closes both ends at once; `notifyDialer` tells the dialer after a network delay. */
  close(notifyDialer: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.inbound.closed = true;
    this.network.forget(this);
    if (this.serverLife.alive) this.listening.handlers.onClose(this.inbound);
    if (notifyDialer && this.dialerLife.alive) {
      this.network.scheduler.at(this.network.delayMs(), this.dialerLife, () => this.onDialerLost());
    }
  }

  private transmit(side: 0 | 1, body: Uint8Array): void {
    if (this.closed) return;
    const network = this.network;
    const scheduler = network.scheduler;
    const faults = network.faults;
    const from = side === 0 ? this.dialerNode : this.serverNode;
    const to = side === 0 ? this.serverNode : this.dialerNode;
    network.stats.messages++;
    if (network.isCut(from, to)) {
      network.stats.dropped++;
      return;
    }
    if (scheduler.chance(faults.resetRate)) {
      network.stats.resets++;
      this.close(true);
      return;
    }
    if (scheduler.chance(faults.dropRate)) {
      network.stats.dropped++;
      return;
    }
    let arrival = scheduler.now + network.delayMs();
    if (scheduler.chance(faults.reorderRate)) {
      network.stats.reordered++;
    } else {
      arrival = Math.max(arrival, this.lastArrival[side]!);
      this.lastArrival[side] = arrival;
    }
    const receiverLife = side === 0 ? this.serverLife : this.dialerLife;
    const deliver = (): void => {
      // Frames already on their way to a listening server still reach it after the dialer's end
      // closed (reset, or its process died): it reads what its socket buffer holds before it
      // sees the close. So an old connection's frames may arrive after a newer connection's.
      if (this.closed && !(side === 0 && scheduler.chance(network.staleDeliveryRate))) return;
      if (side === 0) this.deliverToServer(body);
      else this.onDialerMessage(body);
    };
    scheduler.at(arrival - scheduler.now, receiverLife, deliver);
    if (scheduler.chance(faults.duplicateRate)) {
      network.stats.duplicated++;
      scheduler.at(arrival - scheduler.now + network.delayMs(), receiverLife, deliver);
    }
  }

  private deliverToServer(body: Uint8Array): void {
    let message: InboundMessage;
    try {
      message = decodeInboundMessage(body);
    } catch {
      this.close(true);
      return;
    }
    this.inbound.messagesReceived++;
    this.listening.handlers.onMessage(this.inbound, message);
  }
}

export class SimNetwork {
  faults: NetworkFaults = calmNetwork;
  /** Probability that a frame in flight to a server is still delivered after its connection closed. */
  staleDeliveryRate = 0.5;
  readonly stats: NetworkStats = { messages: 0, dropped: 0, duplicated: 0, reordered: 0, resets: 0 };
  private readonly cuts = new Set<string>();
  private readonly listeners = new Map<string, Listening>();
  private readonly connections = new Set<SimConnection>();
  private nextConnectionId = 1;

  constructor(readonly scheduler: SimScheduler) {}

  delayMs(): number {
    const { delayMsMin, delayMsMax } = this.faults;
    return delayMsMin + this.scheduler.random() * (delayMsMax - delayMsMin);
  }

  isCut(from: string, to: string): boolean {
    return this.cuts.size > 0 && this.cuts.has(`${from}>${to}`);
  }

  cut(from: string, to: string): void {
    this.cuts.add(`${from}>${to}`);
  }

  healAll(): void {
    this.cuts.clear();
  }

  get cutCount(): number {
    return this.cuts.size;
  }

  listen(node: string, life: Life, handlers: ListenerHandlers): void {
    this.listeners.set(node, { life, handlers });
  }

  /** A node crashed: its listener goes, its connections close (the other ends learn later). */
  crashNode(node: string): void {
    this.listeners.delete(node);
    for (const connection of [...this.connections]) {
      if (connection.serverNode === node) connection.close(true);
      else if (connection.dialerNode === node) connection.close(false);
    }
  }

  /**
   * Resets every connection. After an outage a TCP connection that lost data in flight times
   * out and is dialed anew; here the safety phase's datagram faults (a frame lost, duplicated or
   * reordered without the connection breaking, which TCP never does) can leave the same kind of
   * wedge, and the liveness phase starts from fresh connections.
   */
  resetAll(): void {
    for (const connection of [...this.connections]) {
      this.stats.resets++;
      connection.close(true);
    }
  }

  /** Resets every connection between two nodes (either direction). */
  resetBetween(a: string, b: string): void {
    for (const connection of [...this.connections]) {
      if ((connection.dialerNode === a && connection.serverNode === b) || (connection.dialerNode === b && connection.serverNode === a)) {
        this.stats.resets++;
        connection.close(true);
      }
    }
  }

  forget(connection: SimConnection): void {
    this.connections.delete(connection);
  }

  /**
   * Opens a connection after a network delay: `onOpen` with it, or `onRefused` when the target
   * does not listen or a link between the two is cut.
   */
  connect(
    dialerNode: string, dialerLife: Life, serverNode: string,
    onDialerMessage: (body: Uint8Array) => void, onLost: () => void,
    onOpen: (connection: SimConnection) => void, onRefused: () => void,
  ): void {
    this.scheduler.at(this.delayMs() * 2, dialerLife, () => {
      const listening = this.listeners.get(serverNode);
      if (listening === undefined || !listening.life.alive || this.isCut(dialerNode, serverNode) || this.isCut(serverNode, dialerNode)) {
        onRefused();
        return;
      }
      const connection = new SimConnection(this, this.nextConnectionId++, dialerNode, serverNode, dialerLife, listening.life,
        listening, onDialerMessage, onLost);
      this.connections.add(connection);
      onOpen(connection);
    });
  }
}

/** The appender's outbound connection to one peer, on the virtual network (cf. PeerConnection). */
export class SimPeerLink implements PeerLink {
  private connection: SimConnection | null = null;
  private closed = false;
  private delayMs: number;

  constructor(
    private readonly network: SimNetwork,
    private readonly node: string,
    private readonly life: Life,
    private readonly options: PeerConnectionOptions,
  ) {
    this.delayMs = options.reconnectDelayMsMin;
    this.connect();
  }

  get isConnected(): boolean {
    return this.connection !== null && !this.connection.closed;
  }

  send(message: unknown): boolean {
    return this.sendBody(encode(message));
  }

  sendBody(body: Uint8Array): boolean {
    if (!this.isConnected) return false;
    this.connection!.sendFromDialer(body.slice());
    return true;
  }

  reset(): void {
    const connection = this.connection;
    if (connection === null) return;
    connection.close(false);
    this.lost();
  }

  close(): void {
    this.closed = true;
    this.connection?.close(false);
  }

  private connect(): void {
    if (this.closed) return;
    this.network.connect(this.node, this.life, this.options.peerId,
      (body) => {
        let message: PeerMessage;
        try {
          message = decodePeerMessage(body);
        } catch {
          this.connection?.close(true);
          return;
        }
        this.options.onMessage(message);
      },
      () => this.lost(),
      (connection) => {
        this.connection = connection;
        this.delayMs = this.options.reconnectDelayMsMin;
        // As PeerConnection: every connection between servers opens with a hello naming this one.
        connection.sendFromDialer(encode({ k: Kind.PeerHello, g: this.options.groupId, from: this.options.selfId }));
        this.options.onConnect();
      },
      () => this.retryLater());
  }

  private lost(): void {
    if (this.connection === null) return;
    this.connection = null;
    this.options.onDisconnect('connection closed');
    this.retryLater();
  }

  private retryLater(): void {
    if (this.closed) return;
    this.network.scheduler.at(this.delayMs, this.life, () => this.connect());
    this.delayMs = Math.min(this.delayMs * 2, this.options.reconnectDelayMsMax);
  }
}

/** A client's connection to one node. */
export class SimClientConnection {
  private connection: SimConnection | null = null;
  private closed = false;

  constructor(
    network: SimNetwork, client: string, life: Life, server: string,
    onMessage: (message: ServerToClientMessage) => void, onLost: () => void, onOpen: () => void,
  ) {
    network.connect(client, life, server,
      (body) => {
        if (this.closed) return;
        onMessage(decodeServerToClientMessage(body));
      },
      () => { if (!this.closed) { this.closed = true; onLost(); } },
      (connection) => {
        if (this.closed) { connection.close(false); return; }
        this.connection = connection;
        onOpen();
      },
      () => { if (!this.closed) { this.closed = true; onLost(); } });
  }

  get isOpen(): boolean {
    return !this.closed && this.connection !== null && !this.connection.closed;
  }

  send(message: unknown): void {
    if (this.isOpen) this.connection!.sendFromDialer(encode(message));
  }

  close(): void {
    this.closed = true;
    this.connection?.close(false);
  }
}
