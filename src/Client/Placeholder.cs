namespace X; public static class Placeholder {}
