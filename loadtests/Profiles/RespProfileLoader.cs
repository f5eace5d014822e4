using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Cdp.LoadTests.Protocols;

namespace Cdp.LoadTests.Profiles;

/// <summary>
/// Fills Redis or Garnet with the <see cref="SampleProfile"/> profiles, one hash <c>profile:{email}</c> per profile
/// written by one HSET with every field, in pipelined batches over a few connections.
/// </summary>
internal static class RespProfileLoader
{
    /// <summary>Writes profiles 0..count-1; each connection sends <paramref name="batch"/> HSETs, reads their replies, and repeats.</summary>
    /// <exception cref="SocketException">The server cannot be reached.</exception>
    public static async Task<LoadOutcome> LoadAsync(string store, string host, int port, int count, int connections, int batch, ErrorLog errors)
    {
        int next = 0;
        long failed = 0;
        var start = Stopwatch.GetTimestamp();

        async Task WorkerAsync()
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(host, port).ConfigureAwait(false);
            var commands = new ArrayBufferWriter<byte>(batch * 1024);
            var replies = new byte[64 << 10];
            int first;
            while ((first = Interlocked.Add(ref next, batch) - batch) < count)
            {
                int last = Math.Min(count, first + batch);
                commands.ResetWrittenCount();
                for (int i = first; i < last; i++)
                    WriteHset(commands, i);
                await socket.SendAsync(commands.WrittenMemory, SocketFlags.None).ConfigureAwait(false);

                int expected = last - first, buffered = 0;
                while (expected > 0)
                {
                    int read = await socket.ReceiveAsync(replies.AsMemory(buffered), SocketFlags.None).ConfigureAwait(false);
                    if (read == 0)
                        throw new EndOfStreamException($"{store} closed the connection while loading.");
                    buffered += read;
                    int consumed = 0;
                    while (expected > 0 && RespReplyCodec.Instance.TryReadReply(replies.AsSpan(consumed, buffered - consumed), out int length, out ReplyStatus status))
                    {
                        if (status == ReplyStatus.Error)
                        {
                            errors.Add(new InvalidDataException($"{store} HSET failed: {System.Text.Encoding.UTF8.GetString(replies, consumed, Math.Min(length, 160)).TrimEnd()}"));
                            Interlocked.Increment(ref failed);
                        }
                        consumed += length;
                        expected--;
                    }
                    replies.AsSpan(consumed, buffered - consumed).CopyTo(replies);
                    buffered -= consumed;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(WorkerAsync))).ConfigureAwait(false);
        return new LoadOutcome($"{store} {host}:{port}", count, Stopwatch.GetElapsedTime(start), failed);
    }

    private static void WriteHset(IBufferWriter<byte> output, int index)
    {
        List<KeyValuePair<string, string>> fields = SampleProfile.HashFields(index);
        var parts = new string[2 + fields.Count * 2];
        parts[0] = "HSET";
        parts[1] = RespProtocol.Key(index);
        for (int i = 0; i < fields.Count; i++)
        {
            parts[2 + i * 2] = fields[i].Key;
            parts[3 + i * 2] = fields[i].Value;
        }
        RespCommand.Write(output, parts);
    }
}
