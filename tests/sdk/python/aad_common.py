"""What the Entra ID suites share (aad_direct.py straight to the simulator, aad_apps.py through
cosmoseal): the environment their launchers provide (tests/sdk/lib/aad-world.mjs), the identity
options for the test provider, and a CosmosClient that verifies the test CA."""

import os

from azure.cosmos import CosmosClient
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration

ENDPOINT = os.environ["COSMOSEAL_AAD_ENDPOINT"]
CA_FILE = os.environ["COSMOSEAL_AAD_CA_FILE"]
DATABASE = os.environ["COSMOSEAL_AAD_DATABASE"]
CONTAINER = os.environ["COSMOSEAL_AAD_CONTAINER"]
AUTHORITY = os.environ["AZURE_AUTHORITY_HOST"]
TENANT = os.environ["AZURE_TENANT_ID"]
CLIENT_ID = os.environ["AZURE_CLIENT_ID"]

# The provider is not login.microsoftonline.com: no instance discovery; its certificate is issued
# by the test CA.
IDENTITY_OPTS = {"authority": AUTHORITY, "disable_instance_discovery": True, "connection_verify": CA_FILE}


def client(credential):
    # Without an SSLConfiguration naming the CA the SDK stops verifying certificates for
    # 127.0.0.1/localhost; with it the endpoint's certificate is checked against the test CA.
    policy = ConnectionPolicy()
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = CA_FILE
    policy.RequestTimeout = 30
    return CosmosClient(ENDPOINT, credential=credential, connection_policy=policy)
