// Start the reference PDS from PDS_* environment variables; stop it cleanly on SIGTERM.
// Evaluated with the installed app directory as the working directory (see conftest.py).
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.start()
console.log('pds ready')
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    await pds.destroy()
    process.exit(0)
  })
}
