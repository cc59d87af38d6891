// The version of opencmq (the SDK sends it as RequestClient=opencmq-ts/<version>, spec §1.3;
// `opencmq --version` prints it). Kept equal to package.json's version by a unit test.
export const CLIENT_VERSION = '0.1.0';
export const REQUEST_CLIENT = `opencmq-ts/${CLIENT_VERSION}`;
