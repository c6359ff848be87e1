/**
 * The servers' incident counters in one line, for the terminal summary and the HTML report:
 * "none", or per server the counters that are not zero (see BenchResult.incidents).
 */
export function formatIncidents(incidents: Readonly<Record<string, Readonly<Record<string, number>>>>): string {
  const servers = Object.entries(incidents);
  if (servers.length === 0) return 'none';
  return servers.map(([id, counts]) => `${id}: ${Object.entries(counts).map(([name, count]) => `${name} ${count}`).join(', ')}`).join('; ');
}
