// aedes (a Node.js MQTT 3.1.1 broker) on 127.0.0.1:<port>, for tests of brokers without shared
// subscriptions. Usage: node aedes.cjs <port>; prints "ready" once listening; SIGTERM stops it.
const net = require('node:net')
const { Aedes } = require('aedes')

async function main () {
  const port = Number(process.argv[2])
  const broker = await Aedes.createBroker()
  const server = net.createServer(broker.handle)
  server.listen(port, '127.0.0.1', () => console.log('ready'))
  process.on('SIGTERM', () => server.close(() => broker.close(() => process.exit(0))))
}

main().catch((error) => { console.error(error); process.exit(1) })
