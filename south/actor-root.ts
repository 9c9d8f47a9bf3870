import { createActor, fromTransition, type Actor, type AnyActorRef } from 'xstate';

/** What the node's root actor is told: stop one charger actor, or (from XState) that one failed. */
type RootEvent = { type: 'stopChild'; child: AnyActorRef } | { type: string; error?: unknown; actorId?: string };

/**
 * The parent of every charger actor of a node. An actor created without a parent makes an actor
 * system of its own (a dozen closures, maps, sets and a scheduler): about 1.5 KiB per connected
 * charger. Children of one parent share its system. A child may only be stopped by its parent, so
 * stopping goes through here; a child that fails is reported here (without a parent, XState rethrows
 * the error and the node would die of it).
 */
export function createActorRoot(onChildError: (childId: string, error: unknown) => void): Actor<ReturnType<typeof rootLogic>> {
  const root = createActor(rootLogic(onChildError));
  root.start();
  return root;
}

const ERROR_PREFIX = 'xstate.error.actor.';

function rootLogic(onChildError: (childId: string, error: unknown) => void) {
  return fromTransition((state: null, event: RootEvent, scope) => {
    if (event.type === 'stopChild' && 'child' in event) scope.stopChild(event.child);
    else if (event.type.startsWith(ERROR_PREFIX)) onChildError(event.type.slice(ERROR_PREFIX.length), (event as { error?: unknown }).error);
    return state;
  }, null);
}
