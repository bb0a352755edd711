// Package mse implements BitTorrent Message Stream Encryption (MSE/PE):
// the Diffie-Hellman handshake for both roles as socket-free state machines
// (Initiator, Receiver) and RC4-drop1024 as a crypto plugin (RC4) that
// encrypts and decrypts a connection's vectors in place.
//
// It depends on the standard library alone. The session wires it as
// described below, from the root package's encryption.go: it runs the
// Receiver itself (incoming, on the accepting loop) and gives the shards
// the Initiator through the interface shard/encryption.go declares
// (shard.Handshaker, made by shard.Config.NewHandshaker), so shard/ never
// imports this package and ext/ stays above shard/ as STYLE.md draws it
// (the root package's TestLayering checks). MSE negotiation decides how a
// connection is accepted and routed, which no plugin hook can do, while
// the cipher itself is an ordinary CryptoPlugin.
//
// # Incoming connections
//
// The accepting loop reads the first bytes of a new connection. A first
// byte of 19 followed by "BitTorrent protocol" is a plaintext handshake;
// anything else (when the incoming policy is not disabled) starts a
// Receiver, with a lookup over every shard's info-hashes: the session
// registry keeps a map from SKeyHash(infoHash) to the info-hash, updated as
// torrents are added and removed, safe to read from any loop. The session
// makes it with NewDeferredReceiver: when Step has read Ya it stops
// (WaitingDH), the connection's reads pause, and a worker goroutine runs
// the DHJob (both modular exponentiations) and posts it back to the loop,
// which calls ResumeDH and goes on. The accepting
// loop feeds Step with received bytes, writes Output, and refuses the peer
// on any error (an alert carries the Error value) or on a timeout (a
// stalled handshake: the package keeps no clock). Once Done, Result names
// the torrent; the fd, Result.Cipher and the unconsumed bytes go to the
// owning loop. Those bytes are RC4 ciphertext: decrypt them with
// Cipher.Decrypt before Adopt, which takes pending bytes as plaintext. The
// owning loop then calls SetSendCipher(Cipher) and SetRecvCipher(Cipher)
// (through PeerConn.SwitchSendCrypto/SwitchRecvCrypto) before anything is
// queued, and parses Result.InitialPayload as the start of the BitTorrent
// handshake. With MethodPlaintext, Cipher is nil and only the handshake was
// encrypted.
//
// # Outgoing connections
//
// The owning loop runs an Initiator right after connecting, with the
// BitTorrent handshake as initialPayload, feeding Step from OnData (its
// return value n is what OnData consumed) and writing Output. On Done it
// calls SetRecvCipher(Cipher) inside that OnData call, which makes the
// bytes past n go through the cipher (a switch from nil is exact), and
// SetSendCipher(Cipher) for everything queued afterwards.
//
// # Policies
//
// As libtorrent's in_enc_policy/out_enc_policy and allowed_enc_level:
//   - disabled: never start an Initiator; refuse non-plaintext incoming;
//   - enabled: incoming either way; outgoing tries MSE first and, on
//     failure, may redial in plaintext (libtorrent retries once);
//   - forced: refuse plaintext incoming; outgoing MSE only, no retry.
//
// The allowed level maps to the CryptoMethod given to NewInitiator
// (provide) and NewReceiver (allowed): MethodPlaintext, MethodRC4 or
// MethodBoth. A receiver offered both selects RC4.
//
// # Randomness
//
// Private keys (160 bits) and padding come from the rand given to the
// constructors: the shard's source, crypto/rand in production, fixed
// streams in tests. A Receiver draws another key when the secret S would
// start with a zero byte (at most maxKeyDraws keys): rtorrent 0.9.8 hashes
// S without its leading zeros, so such a handshake with it cannot finish.
//
// # Limits
//
// Every peer-controlled length is bounded: pads by MaxPad, the
// synchronisation searches by MaxPad plus the pattern, IA by its uint16
// length. A Receiver consumes at most MaxReceiverRead bytes and an
// Initiator at most MaxInitiatorRead before finishing or failing, and never
// consumes bytes past the end of the handshake.
package mse
