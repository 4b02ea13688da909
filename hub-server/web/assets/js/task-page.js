/* global setTimeout */
// A publish or run task: its status, its steps (which one failed and why) and its log, followed
// until it finishes.
import { API, api } from './api.js';
import { append, clear, formatDate, h, prettyJson, setTitle } from './dom.js';

const POLL_MS = 1000;
const SYMBOLS = { SUCCEEDED: '✓', FAILED: '✗', RUNNING: '…', PENDING: '○' };
const finished = (status) => status === 'SUCCEEDED' || status === 'FAILED';

/** A step still PENDING when its task has finished never ran: say so rather than "pending". */
function statusBadge(status, taskFinished = false) {
  const label = taskFinished && status === 'PENDING' ? 'not run' : status.toLowerCase();
  return h('span', { class: `status status-${status.toLowerCase()}` }, h('span', { 'aria-hidden': 'true' }, `${SYMBOLS[status] ?? ''} `), label);
}

function servableLink(task) {
  if (!task.servable) return null;
  const [owner, name] = task.servable.split('/');
  // A failed publish has no version to show; its servable may not exist at all.
  if (task.kind === 'publish' && task.status !== 'SUCCEEDED') return h('code', null, `${task.servable}${task.version ? ` v${task.version}` : ''}`);
  return h('a', { href: `/models/${owner}/${name}${task.version ? `?version=${task.version}` : ''}` }, `${task.servable}${task.version ? ` v${task.version}` : ''}`);
}

function duration(step) {
  if (!step.started_at || !step.completed_at) return '';
  const ms = new Date(step.completed_at).getTime() - new Date(step.started_at).getTime();
  return Number.isFinite(ms) ? ` (${ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`})` : '';
}

function render(main, task) {
  const failedStep = task.error?.step ?? task.steps?.find((step) => step.status === 'FAILED')?.name;
  setTitle(`Task ${task.task_id}`);
  // dom.js append, not Element.append: it leaves out the sections a task does not have (null).
  append(clear(main), [
    h('h1', null, task.kind === 'publish' ? 'Publish task' : 'Run task'),
    h('dl', { class: 'facts' },
      h('dt', null, 'Task'), h('dd', null, h('code', null, task.task_id)),
      h('dt', null, 'Status'), h('dd', { id: 'task-status' }, statusBadge(task.status)),
      task.servable ? [h('dt', null, 'Servable'), h('dd', null, servableLink(task))] : null,
      h('dt', null, 'Started'), h('dd', null, h('time', { datetime: task.created_at }, formatDate(task.created_at))),
      task.completed_at ? [h('dt', null, 'Finished'), h('dd', null, h('time', { datetime: task.completed_at }, formatDate(task.completed_at)))] : null),
    task.error
      ? h('div', { class: 'error-panel', role: 'alert', id: 'task-error' },
          h('p', null, failedStep ? ['Failed at the ', h('strong', null, failedStep), ' step: '] : 'Failed: ', h('strong', { class: 'error-code' }, task.error.code)),
          h('p', { class: 'error-message' }, task.error.message),
          task.error.details !== undefined ? h('details', null, h('summary', null, 'Details'), h('pre', null, prettyJson(task.error.details))) : null)
      : null,
    !finished(task.status) ? h('p', { role: 'status', class: 'run-status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Still working; this page follows it.') : null,
    task.steps?.length
      ? h('section', { 'aria-labelledby': 'steps-heading', class: 'card-section' },
          h('h2', { id: 'steps-heading' }, 'Steps'),
          h('ol', { class: 'steps' }, task.steps.map((step) => h('li', { class: `step step-${step.status.toLowerCase()}`, 'data-step': step.name, 'data-status': step.status },
            h('span', { class: 'step-name' }, step.name), ' ', statusBadge(step.status, finished(task.status)), duration(step),
            step.message ? h('p', { class: 'step-message' }, step.message) : null))))
      : null,
    h('section', { 'aria-labelledby': 'log-heading', class: 'card-section' },
      h('h2', { id: 'log-heading' }, 'Log'),
      task.log?.length
        ? h('pre', { class: 'log', id: 'task-log', role: 'log', tabindex: '0', 'aria-labelledby': 'log-heading' }, task.log.join('\n'))
        : h('p', { class: 'hint' }, 'No log lines.')),
    task.kind === 'run' && task.result !== undefined
      ? h('section', { 'aria-labelledby': 'result-heading', class: 'card-section' }, h('h2', { id: 'result-heading' }, 'Result'), h('pre', { class: 'output', tabindex: '0' }, prettyJson(task.result)))
      : null,
  ]);
}

export async function renderTaskPage(main, taskId) {
  const path = `${API}/tasks/${encodeURIComponent(taskId)}`;
  let task = await api(path);
  render(main, task);
  while (!finished(task.status)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    task = await api(path);
    render(main, task);
  }
}
