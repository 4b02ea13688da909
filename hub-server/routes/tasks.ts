/**
 * Publish and run tasks (`/api/v1/tasks/{id}`): status, steps, log lines and the result.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorDocument, TaskDocument } from '../../schemas/api.ts';
import { HubError } from '../errors.ts';

export default async function taskRoutes(app: FastifyInstance): Promise<void> {
  app.get('/tasks/:task_id', {
    schema: {
      summary: 'A publish or run task',
      tags: ['tasks'],
      params: Type.Object({ task_id: Type.String({ maxLength: 100 }) }),
      response: { 200: TaskDocument, 404: ErrorDocument },
    },
    handler: async (request) => {
      const { task_id } = request.params as { task_id: string };
      const task = await app.hub.registry.getTask(task_id);
      if (!task) throw new HubError('TASK_NOT_FOUND', task_id);
      return task;
    },
  });
}
