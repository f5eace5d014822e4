namespace Cdp.Server.Rules;

/// <summary>
/// Dense slot numbers for the traits rules read, shared by every segment: a trait's slot is given
/// when the first rule naming it is compiled and never changes, so compiled rules stay valid as
/// segments come and go, and a <see cref="RuleContext"/> keeps only the fields some rule reads.
/// </summary>
public sealed class RuleFieldSlots
{
    readonly Lock gate = new();
    int[] byName = [];
    int count;

    /// <summary>Slot per trait name id; -1 for traits no rule reads. Grows, never shrinks.</summary>
    public int[] TraitSlotsByName => Volatile.Read(ref byName);

    /// <summary>Number of slots given.</summary>
    public int TraitCount => Volatile.Read(ref count);

    /// <summary>The slot of a trait name id, given on first use.</summary>
    public int SlotOf(ushort nameId)
    {
        var current = TraitSlotsByName;
        if (nameId < current.Length && current[nameId] >= 0)
            return current[nameId];
        lock (gate)
        {
            current = byName;
            if (nameId >= current.Length)
            {
                var grown = new int[Math.Max(nameId + 1, current.Length * 2)];
                grown.AsSpan().Fill(-1);
                current.CopyTo(grown, 0);
                current = grown;
            }
            else
                current = (int[])current.Clone();
            if (current[nameId] < 0)
                current[nameId] = count++;
            // Published whole: readers see either the old array or the new one, never a half-filled one.
            Volatile.Write(ref byName, current);
            return current[nameId];
        }
    }
}
