// Usage an author can see (docs/usage.md): runs, errors, mean latency and distinct callers by day,
// for the version shown, to the servable's signed-in owner (and admins); for anyone else the
// section is simply not there.
import { API, api } from './api.js';
import { h, section } from './dom.js';

const DAYS = 30;

function usageTable(report) {
  if (report.days.length === 0) return h('p', { id: 'usage-empty' }, `No runs of this version in the last ${DAYS} days.`);
  const latency = (ms) => (ms === null ? '—' : `${ms.toFixed(1)} ms`);
  return h('table', { class: 'usage', id: 'usage-table' },
    h('caption', null, `Last ${DAYS} days: ${report.totals.runs} runs, ${report.totals.errors} errors, ${report.totals.distinct_callers} distinct signed-in callers, mean latency ${latency(report.totals.mean_latency_ms)}`),
    h('thead', null, h('tr', null, ['Day (UTC)', 'Runs', 'Errors', 'Distinct callers', 'Anonymous runs', 'Mean latency'].map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', null, report.days.slice().reverse().map((day) => h('tr', null,
      h('th', { scope: 'row' }, day.day),
      h('td', null, String(day.runs)),
      h('td', null, String(day.errors)),
      h('td', null, String(day.distinct_callers)),
      h('td', null, String(day.anonymous_runs)),
      h('td', null, latency(day.mean_latency_ms))))));
}

/** The usage section of owner/name@version, or undefined when the visitor may not see it. */
export async function usageSection(owner, name, version) {
  let report;
  try {
    // Asked only for the owner or an admin: anyone else would be refused, and every refusal is
    // written to the hub's audit log.
    const me = await api(`${API}/whoami`);
    if (me.user !== owner && !me.admin) return undefined;
    report = await api(`${API}/servables/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/versions/${version}/usage?days=${DAYS}`);
  } catch {
    return undefined;
  }
  return section('usage', 'Usage (visible to you as the owner)',
    h('p', { class: 'hint' }, 'Callers are counted, never named.'),
    usageTable(report));
}
