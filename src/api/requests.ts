// Request bodies parsed at the API edge: a body is checked against its JSON
// Schema (schemas.ts) and handed on as the typed request the control
// plane's method takes, or refused here with a 400 and one line naming the
// field. The control plane then judges only what the request alone cannot
// show (a free address, a name not taken, a network this host has).
import { badRequest } from '../control/errors.js';
import type { AddFdbRequest, AddVtepRequest, AttachPortRequest, CreatePortRequest } from '../control/controller.js';
import type { CreateEndpointRequest } from '../control/endpoints.js';
import type { UpdateEndpointRequest } from '../control/endpoint-update.js';
import type { CreateGroupRequest, CreateNetworkRequest, CreateTenantRequest, GroupChange } from '../control/objects.js';
import type { CreatePolicyRequest, RuleInput } from '../control/policies.js';
import type { AddGatewayRequest } from '../control/gateways.js';
import { bodyProblem, type BodyKind } from './schemas.js';

export type { AddGatewayRequest, AddFdbRequest, AddVtepRequest, AttachPortRequest, CreateEndpointRequest, CreateGroupRequest, CreateNetworkRequest, CreatePolicyRequest, CreatePortRequest, CreateTenantRequest, GroupChange, RuleInput, UpdateEndpointRequest };

/** The body of PATCH /v1/endpoints/NAME (the endpoint is named by the path and query). */
export type EndpointChange = Pick<UpdateEndpointRequest, 'aliases' | 'group' | 'port' | 'check' | 'checkInterval' | 'checkTimeout'>;

/** The typed request each body kind parses into. */
export interface RequestOf {
  tenant: CreateTenantRequest;
  network: CreateNetworkRequest;
  group: CreateGroupRequest;
  groupUpdate: GroupChange;
  policy: CreatePolicyRequest;
  policyRule: RuleInput;
  endpoint: CreateEndpointRequest;
  endpointUpdate: EndpointChange;
  port: CreatePortRequest;
  attach: AttachPortRequest;
  vtep: AddVtepRequest;
  fdb: AddFdbRequest;
  uplink: { iface: string };
  gateway: AddGatewayRequest;
}

/** A body (undefined when the request had none) as the typed request of its kind; a 400 with one line when it does not fit. */
export function parseBody<K extends BodyKind>(kind: K, body: unknown): RequestOf[K] {
  const value = body === undefined ? {} : body;
  const problem = bodyProblem(kind, value);
  if (problem) throw badRequest(problem);
  return value as RequestOf[K];
}
