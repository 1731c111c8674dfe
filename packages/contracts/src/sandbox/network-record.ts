// Where the egress proxy must listen for one sandbox network: the JSON the worker stores under
// sandboxKeys.network(name) when it creates the network.

export type SandboxNetworkRecord = {
  name: string;
  id: string;
  bridge: string;
  gateway: string;
  subnet: string;
  proxyPort: number;
};
