/**
 * Who is calling, as every port and use case that decides visibility sees it: the identity plugin
 * makes one per request from a token, a session or a federated sign-in, and passes it down.
 */
export interface Viewer {
  user?: string;
  groups?: string[];
  admin?: boolean;
  /**
   * The caller's Globus Auth identity id (a UUID), where sign-in or token introspection
   * established one: the Action Provider then names them `urn:globus:auth:identity:<id>`.
   */
  globusIdentity?: string;
  /**
   * Every federated identity the caller speaks for, as URNs (`urn:globus:auth:identity:<id>` for
   * each identity of a Globus identity set or linked to the hub user): what `whoami` reports.
   */
  identityUrns?: string[];
}
