using System.Buffers;
using System.Text;

namespace Cdp.LoadTests.Protocols;

/// <summary>Writes RESP2 commands: an array of bulk strings, the only request form Redis and Garnet need.</summary>
internal static class RespCommand
{
    public static void Write(IBufferWriter<byte> output, params ReadOnlySpan<string> parts)
    {
        WriteLine(output, '*', parts.Length);
        foreach (string part in parts)
        {
            int length = Encoding.UTF8.GetByteCount(part);
            WriteLine(output, '$', length);
            Span<byte> span = output.GetSpan(length + 2);
            Encoding.UTF8.GetBytes(part, span);
            span[length] = (byte)'\r';
            span[length + 1] = (byte)'\n';
            output.Advance(length + 2);
        }
    }

    private static void WriteLine(IBufferWriter<byte> output, char prefix, int number)
    {
        string line = prefix + number.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\r\n";
        output.Write(Encoding.ASCII.GetBytes(line));
    }
}
