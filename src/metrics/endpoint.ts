/**
 * The Prometheus endpoint of a server: HTTP GET /metrics answers the text format (prometheus.ts);
 * anything else is 404 (405 for another method on /metrics). It listens on its own port, never on
 * the Raft port, and only reads a snapshot per request.
 */
import http from 'node:http';
import type { MetricsSnapshot } from './types.js';
import { formatPrometheus, prometheusContentType } from './prometheus.js';

export class MetricsEndpoint {
  private constructor(private readonly server: http.Server) {}

  static listen(address: string, snapshot: () => MetricsSnapshot): Promise<MetricsEndpoint> {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon);
    const port = Number(address.slice(colon + 1));
    const server = http.createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      let body: string;
      try {
        body = formatPrometheus(snapshot());
      } catch (error) {
        response.writeHead(503, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
        return;
      }
      response.writeHead(200, { 'content-type': prometheusContentType });
      response.end(request.method === 'HEAD' ? undefined : body);
    });
    server.keepAliveTimeout = 5000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(new MetricsEndpoint(server));
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
