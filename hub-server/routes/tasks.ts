/**
 * Publish and run tasks (`/api/v1/tasks/{id}`): status, steps, log lines and the result.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorDocument, TaskDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { canSeeTask, canView } from '../use-cases/access.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export default async function taskRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/tasks/:task_id', {
    schema: {
      summary: 'A publish or run task',
      tags: ['tasks'],
      params: Type.Object({ task_id: Type.String({ maxLength: 100 }) }),
      response: { 200: TaskDocument, 401: ErrorDocument, 404: ErrorDocument },
    },
    handler: async (request) => {
      app.requireReader(request);
      const { task_id } = request.params;
      const task = await app.hub.registry.getTask(task_id);
      // Someone else's task, or one about a servable the caller may no longer see, is unknown.
      if (!task || !canSeeTask(await app.tokens.getTaskCreator(task_id), request.viewer)) throw new HubError('TASK_NOT_FOUND', task_id);
      if (task.servable && task.version !== undefined) {
        const slash = task.servable.indexOf('/');
        const record = await app.hub.registry.getVersion(task.servable.slice(0, slash), task.servable.slice(slash + 1), task.version);
        if (record?.document && !canView(record.document, request.viewer)) throw new HubError('TASK_NOT_FOUND', task_id);
      }
      return task;
    },
  });
}
